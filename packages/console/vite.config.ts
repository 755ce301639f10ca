import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Served by the Gatehouse server at /console (packages/server/src/console/serve.ts); `npm run dev` proxies the API
// to a server on 127.0.0.1:8787.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 700, modulePreload: { polyfill: false } },
  server: { proxy: { '/console/api': 'http://127.0.0.1:8787' } },
});

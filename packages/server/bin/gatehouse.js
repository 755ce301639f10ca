#!/usr/bin/env node
// The `gatehouse` command. The CLI is TypeScript run from source (no build step): tsx's loader is registered in
// this process, so signals (SIGTERM for `gatehouse serve`) reach the CLI directly, with no child to forward them to.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/index.ts');
process.exitCode = await runCli(process.argv);

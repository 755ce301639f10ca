#!/usr/bin/env node
// `npm start`: the server as compiled JavaScript (bin/build.js compiles it at install, or here when a source changed).
import { compiled, ensureBuilt } from './build.js';

ensureBuilt();
const { startFromCommandLine } = await import(compiled('main.ts'));
startFromCommandLine();

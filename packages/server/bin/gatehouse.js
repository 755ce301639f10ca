#!/usr/bin/env node
// The `gatehouse` command, as compiled JavaScript (bin/build.js compiles it at install, or here when a source
// changed). It runs in this process, so signals (SIGTERM for `gatehouse serve`) reach the CLI directly.
import process from 'node:process';
import { compiled, ensureBuilt } from './build.js';

ensureBuilt();
const { runCli } = await import(compiled('cli/index.ts'));
process.exitCode = await runCli(process.argv);

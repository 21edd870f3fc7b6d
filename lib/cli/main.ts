#!/usr/bin/env node
import { processIo, runCli } from './run-cli.js';

void runCli(process.argv.slice(2), processIo())
  .then((run) => run.exitCode)
  .then((code) => (process.exitCode = code));

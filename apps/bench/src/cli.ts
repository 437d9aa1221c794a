#!/usr/bin/env node
/** The `moe-bench` executable: runs {@link main} and exits with its code. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));

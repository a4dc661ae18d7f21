#!/usr/bin/env node
/**
 * The fastrec command line. Exit codes: 0 success, 1 runtime failure,
 * 2 usage error (bad command or arguments).
 */
import { FastrecError } from '../errors.js';
import { runDemo } from './demo.js';

const USAGE = `Usage: fastrec <command> [options]

Commands:
  demo [--quick] [--out DIR]   train on the built-in Complete Journey sample and report
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo':
      return runDemo(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`fastrec: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = err instanceof FastrecError ? `${err.code}: ${err.message}` : err instanceof Error ? err.stack ?? err.message : String(err);
    process.stderr.write(`fastrec: ${msg}\n`);
    process.exitCode = 1;
  },
);

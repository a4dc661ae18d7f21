#!/usr/bin/env node
/**
 * The fastrec command line. Exit codes: 0 success, 1 runtime failure (bad
 * file, unknown id, training failed...), 2 usage error (bad command, option
 * or argument value).
 */
import { describeFailure, UsageError } from './util.js';

const USAGE = `Usage: fastrec <command> [options]     (fastrec <command> --help for a command's options)

Commands:
  demo [--quick] [--out DIR]             train on the built-in Complete Journey sample, compare with baselines, write a report
  train <interactions> --model M --out F fit a model on a CSV/TSV/JSONL file and save it
  eval <interactions> [--models a,b]     fit models on a split of a file and compare them
  info <model>                           what a model file holds
  recommend <model> --user ID            top-k items for a user (or --history ID,ID for a new visitor)
  similar <model> --item ID              items similar to an item
  serve <model> [--port 8080]            HTTP service (recommendations, similar items, events, hot reload)

Every command accepts --json for machine-readable output.
Exit codes: 0 success, 1 runtime failure, 2 usage error.
`;

type Command = (args: string[]) => Promise<number>;

// Each command's module is imported when it runs: `fastrec info` does not load the server framework.
const COMMANDS: Record<string, Command> = {
  demo: async (a) => (await import('./demo.js')).runDemo(a),
  info: async (a) => (await import('./query.js')).runInfo(a),
  recommend: async (a) => (await import('./query.js')).runRecommend(a),
  similar: async (a) => (await import('./query.js')).runSimilar(a),
  serve: async (a) => (await import('./serve.js')).runServe(a),
  train: async (a) => (await import('./train.js')).runTrain(a),
  eval: async (a) => (await import('./train.js')).runEval(a),
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? process.stderr : process.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    const { packageVersion } = await import('../models/registry.js');
    process.stdout.write(packageVersion + '\n');
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    const near = Object.keys(COMMANDS).find((c) => c.startsWith(command.slice(0, 2)));
    throw new UsageError(`unknown command '${command}'${near ? ` (did you mean '${near}'?)` : ''}`, USAGE);
  }
  // Every built-in model kind, so any model file loads.
  await import('../models/builtin.js');
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { code, message } = describeFailure(err);
    process.stderr.write(`fastrec: ${message}\n`);
    process.exitCode = code;
  },
);

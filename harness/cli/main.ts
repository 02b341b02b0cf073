// buildx-lab: the command line. One commander program; each command is declared beside its domain and
// only assembled here, so help text, option groups and errors come from one declaration.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { buildxCommand } from '../buildx/command.ts';
import { buildkitCommand } from '../buildkit/command.ts';
import { bisectCommand } from '../bisect/command.ts';
import { bundleCommand } from '../bundle/command.ts';
import { engineCommand } from '../engine/command.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { imagesCommand } from '../images/command.ts';
import { verifyCommand } from '../oci/command.ts';
import { writeConsole } from '../progress.ts';
import { qualifyCommand } from '../qualify/command.ts';
import { mergeReportsCommand } from '../report/command.ts';
import { checkCommand, newCommand, reproCommand } from '../repro/command.ts';
import { runCommand, setupCommand, testCommand } from '../runner/command.ts';
import { cleanCommand, doctorCommand } from './doctor.ts';

/** The package's version, read once from its package.json (a clone's and an installed package's alike). */
const LAB_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function program(): Command {
  const p = new Command('buildx-lab')
    .description('Reproduce Docker Buildx bugs across Buildx versions, Docker engines, image stores, drivers and registries.')
    .version(LAB_VERSION, '-V, --version', "the lab's own version (the package's)")
    .showHelpAfterError('(run buildx-lab help <command> for its options)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .exitOverride();
  p.commandsGroup('Run cells:');
  for (const c of [runCommand(), reproCommand(), bisectCommand(), qualifyCommand(), testCommand()]) p.addCommand(c);
  p.commandsGroup('Set up:');
  for (const c of [setupCommand(), engineCommand(), imagesCommand(), buildxCommand(), buildkitCommand(), bundleCommand()]) p.addCommand(c);
  p.commandsGroup('Inspect and tidy:');
  for (const c of [newCommand(), checkCommand(), verifyCommand(), mergeReportsCommand(), doctorCommand(), cleanCommand()]) p.addCommand(c);
  // Errors from nested commands go through the same exit path.
  const override = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  p.commands.forEach(override);
  return p;
}

/** Exit codes: 0 ok, 1 a failed run or a lab error, 2 bad input (the message names the fix). */
export async function main(argv: string[]): Promise<number> {
  process.exitCode = 0;
  try {
    await program().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const err = e as Error;
    const kind = e instanceof HarnessError ? e.kind : 'internal';
    // an error's message can quote a case, a shard or Buildx output: printed as the lab prints everything
    writeConsole(process.stderr, `buildx-lab: ${kind} error: ${err.message}\n`);
    if (!(e instanceof HarnessError)) writeConsole(process.stderr, `${err.stack ?? ''}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

const SIGNAL_CODES = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
/** Grace for the cells' workers to stop their containers once interrupted; then the CLI exits regardless. */
const INTERRUPT_GRACE_MS = 60_000;

/**
 * An interrupted command exits 128+signal, whatever the work it cut short returned: vitest (run in this
 * process) answers SIGINT by cancelling the cells and finishing normally, which would otherwise read as a
 * clean exit. The signal reaches the workers and Go builds of the process group too; they stop on their own.
 */
function exitOnInterrupt(flush: () => Promise<void>): { code(): number | undefined } {
  let code: number | undefined;
  for (const sig of Object.keys(SIGNAL_CODES) as (keyof typeof SIGNAL_CODES)[]) {
    process.on(sig, () => {
      if (code !== undefined) return; // the wrapper forwards what the terminal already sent the group
      code = 128 + SIGNAL_CODES[sig];
      process.stderr.write(`\nbuildx-lab: ${sig}: stopping (cells cancelled, their containers removed)\n`);
      setTimeout(() => void flush().then(() => process.exit(code)), INTERRUPT_GRACE_MS);
    });
  }
  return { code: () => code };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(fileURLToPath(import.meta.url))) {
  // The bin wrapper dying without a signal closes the IPC channel: stop as if interrupted.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // process.exit drops what a pipe has not taken yet (a long --list, a table): flush both streams first.
  const flushed = (s: NodeJS.WriteStream) => new Promise<void>((r) => s.write('', () => r()));
  const flush = () => Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => undefined);
  const interrupt = exitOnInterrupt(flush);
  main(process.argv.slice(2)).then(async (code) => {
    await flush();
    process.exit(interrupt.code() ?? code);
  });
}

// Evidence helpers shared by the writers and the runner: which command explains a cell, and how to show it.
import type { CellResult, CommandRecord } from '../model.ts';
import { errorLine, findErrorLine } from '../text.ts';

/** The command that explains the cell: the last one that failed, else the last one run. */
export function failingCommand(r: CellResult): CommandRecord | undefined {
  const cmds = r.evidence.commands;
  return [...cmds].reverse().find((c) => c.exitCode !== 0) ?? cmds[cmds.length - 1];
}

/** The most telling error line: the harness error, else the last ERROR-ish stderr line of the failing command. */
export function cellErrorLine(r: CellResult): string | undefined {
  if (r.error) return `${r.error.kind}: ${r.error.message.split('\n')[0]}`;
  const cmd = failingCommand(r);
  // a command that succeeded has no error line; its last progress line would mislead
  return cmd && cmd.exitCode !== 0 ? errorLine(cmd.stderr) || undefined : findErrorLine(cmd?.stderr ?? '');
}

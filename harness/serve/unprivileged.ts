// The lab's servers that parse what a case's builds send (git http-backend, the OTLP collector, versitygw) run as
// nobody when the lab is root: through setpriv, with no groups and no_new_privs, so a parser bug does not
// hold root on the host.
import { existsSync } from 'node:fs';

export const SETPRIV = '/usr/bin/setpriv';
export const NOBODY = 65534;

/** `program` as the lab starts it: as nobody when we are root and setpriv is there, and who it runs as; pure. */
export function asNobody(program: readonly string[], uid: number | undefined, hasSetpriv: boolean): { argv: string[]; as: string; nobody: boolean } {
  if (uid !== 0) return { argv: [...program], as: `uid ${uid ?? '?'} (the lab's own, not root)`, nobody: false };
  if (!hasSetpriv) return { argv: [...program], as: 'root (no setpriv on this host to drop to nobody)', nobody: false };
  return {
    argv: [SETPRIV, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--no-new-privs', '--', ...program],
    as: `nobody (${NOBODY}) through setpriv`,
    nobody: true,
  };
}

/** Whether this process would drop to nobody (root, with setpriv). */
export function dropsToNobody(): boolean {
  return process.getuid?.() === 0 && existsSync(SETPRIV);
}

// How the lab's host-side servers run a program that parses what cells send (git http-backend, versitygw):
// as nobody, with no groups and no_new_privs, through util-linux setpriv, when the lab is root. That parser
// should not hold root on the host. Without root there is nothing to drop; without setpriv it says so.
export const SETPRIV = '/usr/bin/setpriv';
export const NOBODY = 65534;

/** `program` wrapped to run as nobody when `uid` is root and setpriv is there, and who it runs as; pure. */
export function unprivilegedArgv(program: readonly string[], uid: number | undefined, hasSetpriv: boolean): { argv: string[]; as: string; nobody: boolean } {
  if (uid !== 0) return { argv: [...program], as: `uid ${uid ?? '?'} (the lab's own, not root)`, nobody: false };
  if (!hasSetpriv) return { argv: [...program], as: 'root (no setpriv on this host to drop to nobody)', nobody: false };
  return {
    argv: [SETPRIV, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--no-new-privs', '--', ...program],
    as: `nobody (${NOBODY}) through setpriv`,
    nobody: true,
  };
}

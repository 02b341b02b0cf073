#!/usr/bin/env node
// Entry point for `npx buildx-lab`: runs the TypeScript CLI through tsx (no build step).
// - Needs Node >= 22; on an older Node it uses the project-local Node that `make` installs in .lab/node.
// - Forwards SIGINT, SIGTERM and SIGHUP to the CLI and exits with its status, so killing this wrapper
//   stops the run; an IPC channel lets the CLI notice when this wrapper dies without a signal.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { constants } from 'node:os';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const localNode = path.join(root, '.lab', 'node', 'node_modules', '.bin', 'node');
const major = Number(process.versions.node.split('.')[0]);
let node = process.execPath;
if (major < 22) {
  if (!existsSync(localNode)) {
    // Installed as a package there is no .lab: only the clone's Makefile brings a project-local Node.
    const inClone = existsSync(path.join(root, 'Makefile'));
    process.stderr.write(
      `buildx-lab: Node ${process.version} is too old (>= 22 needed). Fix: install Node >= 22 (Node 24 LTS recommended)${inClone ? ", or run 'make setup' here, which installs a project-local Node 24 in .lab/node" : ' and run it again'}.\n`,
    );
    process.exit(2);
  }
  node = localNode;
}

const child = spawn(node, ['--import', import.meta.resolve('tsx'), path.join(root, 'harness', 'cli', 'main.ts'), ...process.argv.slice(2)], {
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  env: { ...process.env, BUILDX_LAB_CLI: '1', BUILDX_LAB_NODE: node },
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => child.kill(sig));
}
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1));
});

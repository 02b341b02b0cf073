#!/usr/bin/env node
// Entry point for `npx buildx-lab`: runs the TypeScript CLI through tsx (no build step).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const r = spawnSync(tsx, [path.join(root, 'harness', 'cli', 'main.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, BUILDX_LAB_CLI: '1' },
});
process.exit(r.status ?? (r.signal === 'SIGINT' ? 130 : 1));

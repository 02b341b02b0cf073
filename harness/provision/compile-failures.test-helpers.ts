// A compile-failure record as Docker 24.0.9's daemon leaves one with go1.26.8, for the tests of records and reasons.
import type { CompileFailureKey, CompileFailureRecord } from './compile-failures.ts';

export const SAMPLE_KEY: CompileFailureKey = {
  module: 'github.com/docker/docker',
  version: 'v24.0.9+incompatible',
  flags: 'a'.repeat(64),
  goVersion: 'go1.26.8',
  goToolchain: 'local',
  goos: 'linux',
  goarch: 'amd64',
};

export const SAMPLE_RECORD: CompileFailureRecord = {
  schema: 1,
  key: SAMPLE_KEY,
  failedAt: '2026-12-07T05:30:00.000Z',
  target: './cmd/dockerd',
  firstError: 'github.com/moby/buildkit@v0.11.6/util/imageutil/config.go:190:33: undefined: ocispecs.MediaTypeImageLayerNonDistributable',
  output: '# github.com/moby/buildkit/util/imageutil\nconfig.go:190:33: undefined: ocispecs.MediaTypeImageLayerNonDistributable',
  replacements: [{ module: 'github.com/moby/buildkit', from: 'v0.11.7-0.20240124010513-435cb77e369c', to: 'v0.11.6' }],
};

// Node's process.arch -> the arch suffix of Buildx release assets (buildx-v0.21.1.linux-<arch>)
// and the GOARCH/GOARM a source build needs. Pure.
import { UsageError } from '../errors.ts';

export type BuildxArch = 'amd64' | 'arm64' | 'arm-v7' | 's390x' | 'ppc64le' | 'riscv64';

const FROM_NODE: Readonly<Record<string, BuildxArch>> = {
  x64: 'amd64',
  arm64: 'arm64',
  // Node's 32-bit arm builds need ARMv7; Buildx also ships arm-v6, which we never pick.
  arm: 'arm-v7',
  s390x: 's390x',
  // Node on Linux only runs little-endian POWER, which Go calls ppc64le.
  ppc64: 'ppc64le',
  riscv64: 'riscv64',
};

export const BUILDX_ARCHES: readonly BuildxArch[] = Object.values(FROM_NODE);

export function buildxArch(nodeArch: string = process.arch): BuildxArch {
  const arch = FROM_NODE[nodeArch];
  if (!arch) {
    throw new UsageError(`Buildx has no linux binary for Node arch "${nodeArch}"; supported: ${Object.keys(FROM_NODE).join(', ')}`);
  }
  return arch;
}

/** Environment for `go build` producing this arch. */
export function goEnv(arch: BuildxArch): { GOOS: 'linux'; GOARCH: string; GOARM?: string } {
  return arch === 'arm-v7' ? { GOOS: 'linux', GOARCH: 'arm', GOARM: '7' } : { GOOS: 'linux', GOARCH: arch };
}

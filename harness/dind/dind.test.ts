import { describe, expect, it } from 'vitest';
import { daemonJson, storeMatches, type DockerInfo } from './dind.ts';

const info = (driver: string, driverType?: string): DockerInfo => ({
  ServerVersion: '26.1.5',
  Driver: driver,
  DriverStatus: driverType ? [['driver-type', driverType]] : [['Backing Filesystem', 'tmpfs']],
});

describe('DinD daemon configuration', () => {
  it('switches the containerd snapshotter per store and trusts the lab registry', () => {
    expect(JSON.parse(daemonJson({ store: 'containerd', insecureRegistries: ['registry:5000'] }))).toEqual({
      features: { 'containerd-snapshotter': true },
      'insecure-registries': ['registry:5000'],
    });
    expect(JSON.parse(daemonJson({ store: 'classic', insecureRegistries: [], maxDownloadAttempts: 1 }))).toEqual({
      features: { 'containerd-snapshotter': false },
      'insecure-registries': [],
      'max-download-attempts': 1,
    });
  });

  it.each([
    ['containerd', info('overlayfs', 'io.containerd.snapshotter.v1'), true],
    ['containerd', info('overlay2'), false],
    ['classic', info('overlay2'), true],
    ['classic', info('overlayfs', 'io.containerd.snapshotter.v1'), false],
  ] as const)('store %s against docker info %o: %s', (store, i, ok) => {
    expect(storeMatches(store, i)).toBe(ok);
  });
});

import { describe, expect, it } from 'vitest';
import { defineScenario, labelSatisfies, labelVersion, validateAxes } from './definition.ts';
import { bare } from './definition.test-helpers.ts';

const scenario = bare({ buildx: ['0.20.1', '0.21.1'], engine: ['23.0', '26.1'], store: ['containerd', 'classic'], driver: ['docker', 'docker-container'] });

describe('defineScenario', () => {
  it.each(['Demo', '-demo', 'demo_1', 'demo id', ''])('refuses the id %j', (id) => {
    expect(() => defineScenario({ ...scenario, id })).toThrow(`scenario id '${id}' must be lower-case words joined by '-'`);
  });
  it('takes lower-case words and digits, and checks the axes', () => {
    expect(defineScenario({ ...scenario, id: '3070-bake-push' }).id).toBe('3070-bake-push');
    expect(() => defineScenario({ ...scenario, axes: { ...scenario.axes, store: ['zfs'] } as never })).toThrow(/bare: store=zfs is not known/);
    expect(bare({ buildx: ['latest'], fault: ['corrupt'] }).axes.fault).toEqual(['corrupt']);
  });
});

describe('axes', () => {
  it('accepts declared values, and any version spec', () => {
    expect(() =>
      validateAxes(
        's',
        { buildx: ['>=0.20', 'latest'], engine: ['26.1'], store: ['classic'], driver: ['remote'], command: ['bake'], registry: ['immutable-tags'], fault: ['corrupt'] },
        ['corrupt'],
      ),
    ).not.toThrow();
    expect(() => validateAxes('s', { store: undefined })).not.toThrow();
  });

  it('rejects unknown axes and values, naming what exists', () => {
    expect(() => validateAxes('s', { colour: ['red'] })).toThrow("scenario s: unknown axis 'colour'; axes are buildx, engine, store, driver, command, registry, fault, buildkit");
    expect(() => validateAxes('s', { command: ['push'] })).toThrow('scenario s: command=push is not known; command takes build, bake');
    expect(() => validateAxes('s', { fault: ['corrupt'] })).toThrow(/^scenario s: fault=corrupt is not known; fault takes $/);
    expect(() => validateAxes('s', { store: ['zfs'] })).toThrow(/store takes containerd, classic/);
    expect(() => validateAxes('s', { driver: ['podman'] })).toThrow(/driver takes docker, docker-container, remote, kubernetes/);
    expect(() => validateAxes('s', { fault: ['boom'] }, ['corrupt'])).toThrow(/fault takes corrupt/);
  });
});

describe('labels', () => {
  it.each([
    ['v0.29.1-debian', 'v0.29.1'],
    ['26.1.5-debian', '26.1.5'],
    ['v0.21.0-rc2', 'v0.21.0-rc2'],
    ['debian-sid', 'debian-sid'],
    // only a trailing -debian is the lab's
    ['v1.0.0-debian.1', 'v1.0.0-debian.1'],
  ])('%s stands for %s', (label, version) => {
    expect(labelVersion(label)).toBe(version);
  });

  it.each([
    ['27.5.1', '<28', true],
    ['28.5.2-debian', '<28', false],
    ['v0.21.0-rc2', '<0.21.0', true],
    ['v0.29.1-debian', '>=0.29.1 <0.30', true],
  ])('%s is in %s: %s', (label, range, want) => {
    expect(labelSatisfies(label, range)).toBe(want);
  });
});

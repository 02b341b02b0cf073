import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { IMAGE_CATALOG, dindSpecForEngine, findImageSpec, localTag, recipeHash } from './catalog.ts';

describe('image catalog', () => {
  it('has two DinD engines and a registry, each with an official alternative', () => {
    expect(IMAGE_CATALOG.filter((s) => s.role === 'dind').map((s) => s.engineVersion)).toEqual(['26.1.5', '28.5.2']);
    expect(findImageSpec('registry').official).toEqual(['registry:3']);
    expect(dindSpecForEngine('28.5.2')?.recipe.suite).toBe('sid');
  });

  it('names unknown images with the known ones', () => {
    expect(() => findImageSpec('nope')).toThrow(/known: dind-trixie, dind-sid, registry/);
  });

  it('tags local builds by recipe: same recipe same tag, any change a new tag', () => {
    const spec = findImageSpec('dind-trixie');
    expect(localTag(spec)).toMatch(/^buildx-lab\/dind-trixie:[0-9a-f]{12}$/);
    expect(recipeHash(spec)).toBe(recipeHash(spec));
    const morePackages = { ...spec, recipe: { ...spec.recipe, packages: [...spec.recipe.packages, 'git'] } };
    expect(recipeHash(morePackages)).not.toBe(recipeHash(spec));
    const otherScript = (p: string) => (p.endsWith('.sh') && !p.includes('entrypoint') ? Buffer.from('changed') : readFileSync(p));
    expect(recipeHash(spec, otherScript)).not.toBe(recipeHash(spec));
    const otherBuild = { ...spec, recipe: { ...spec.recipe, hashExtra: 'buildkit v0.34.2' } };
    expect(recipeHash(otherBuild)).not.toBe(recipeHash(spec));
  });
});

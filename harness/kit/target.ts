// A cell's push targets in the lab registry: the repository of its own, so nothing another cell pushed
// changes what a registry does, and the lab registry's references read back as targets.
import { UsageError } from '../errors.ts';
import { REGISTRY_HOST } from '../model.ts';
import { parseImageRef } from '../oci/reference.ts';

export interface PushTarget {
  repository: string;
  tag: string;
  /** as the engine sees it: registry:5000/<repository>:<tag> */
  ref: string;
}

/** A registry reference as a push target; it must name the lab registry. */
export function registryTarget(ref: string): PushTarget {
  const r = parseImageRef(ref);
  if (r.registry !== REGISTRY_HOST) throw new UsageError(`${ref} is not in the lab registry (${REGISTRY_HOST}); only it can be verified`);
  return { repository: r.repository, tag: r.reference, ref };
}

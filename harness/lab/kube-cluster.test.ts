import { describe, expect, it } from 'vitest';
import { KUBE_UNTRUSTED, kubeconfigFor, namespaceProblem, registriesYaml } from './kube-cluster.ts';

describe('the k3s node', () => {
  it('mirrors the lab registry over plain HTTP under the name the engines use', () => {
    expect(registriesYaml('registry:5000')).toBe('mirrors:\n  "registry:5000":\n    endpoint:\n      - "http://registry:5000"\n');
  });
  it("points the kubeconfig's server at the node's address on the lab network", () => {
    const config = 'clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n';
    expect(kubeconfigFor(config, '172.22.0.2')).toBe('clusters:\n- cluster:\n    server: https://172.22.0.2:6443\n  name: default\n');
  });
  it('refuses an address that is not IPv4, and a kubeconfig with no server to point', () => {
    expect(() => kubeconfigFor('server: https://127.0.0.1:6443', '')).toThrow(/no IPv4 address on the lab network/);
    expect(() => kubeconfigFor('server: https://10.0.0.1:6443', '172.22.0.2')).toThrow(/names no https:\/\/127\.0\.0\.1:6443 server/);
  });
  it.each([['c1x2y3'], ['a'], ['a-b']])('takes %s as a namespace', (n) => expect(namespaceProblem(n)).toBeUndefined());
  it.each([['C1'], ['-a'], ['a_b'], [''], ['a'.repeat(64)], ['a;b']])('refuses %j as a namespace', (n) =>
    expect(namespaceProblem(n)).toMatch(/is not a Kubernetes namespace name/),
  );
  it('says what an untrusted case can do instead', () => {
    expect(KUBE_UNTRUSTED).toMatch(/--trust/);
    expect(KUBE_UNTRUSTED).toMatch(/rootless engine/);
  });
});

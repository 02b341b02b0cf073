import { describe, expect, it } from 'vitest';
import { checkDockerArgv } from './docker-argv.ts';

const CTX = '/tmp/cells/c1/ctx';
const check = (argv: string) => checkDockerArgv(argv.split(' '), CTX);

describe('docker steps: what the allowlist takes, read as the docker CLI reads it', () => {
  it.each([
    ['run --rm alpine true', { flags: [{ long: 'rm' }], positionals: ['alpine', 'true'] }],
    ['logs -n 50 --timestamps x', { flags: [{ long: 'tail', value: '50' }, { long: 'timestamps' }], positionals: ['x'] }],
    ['run -itd --name=x alpine', { flags: [{ long: 'interactive' }, { long: 'tty' }, { long: 'detach' }, { long: 'name', value: 'x' }], positionals: ['alpine'] }],
    // after the image, everything is the container's command: --privileged here is an argument to sh
    ['run alpine sh -c --privileged', { flags: [], positionals: ['alpine', 'sh', '-c', '--privileged'] }],
    [
      'run -eA=1 -e=B=2 -e C=3 -uroot alpine',
      {
        flags: [
          { long: 'env', value: 'A=1' },
          { long: 'env', value: 'B=2' },
          { long: 'env', value: 'C=3' },
          { long: 'user', value: 'root' },
        ],
        positionals: ['alpine'],
      },
    ],
    // -h is run's --hostname: it takes a value, so "-v" here is the hostname, not a volume
    ['run -h -v alpine', { flags: [{ long: 'hostname', value: '-v' }], positionals: ['alpine'] }],
    [
      'run --network bridge --net=none -w /x alpine',
      {
        flags: [
          { long: 'network', value: 'bridge' },
          { long: 'net', value: 'none' },
          { long: 'workdir', value: '/x' },
        ],
        positionals: ['alpine'],
      },
    ],
    ['run -- alpine', { flags: [], positionals: ['alpine'] }],
    // interspersed: flags after the image names are still flags
    ['image inspect a -f {{.Id}} b', { flags: [{ long: 'format', value: '{{.Id}}' }], positionals: ['a', 'b'] }],
    ['image ls -aq', { flags: [{ long: 'all' }, { long: 'quiet' }], positionals: [] }],
    ['image inspect -- -f', { flags: [], positionals: ['-f'] }],
    ['image save -o out/app.tar app', { flags: [{ long: 'output', value: 'out/app.tar' }], positionals: ['app'], paths: ['out/app.tar'] }],
    ['image save -oapp.tar app', { flags: [{ long: 'output', value: 'app.tar' }], positionals: ['app'], paths: ['app.tar'] }],
    ['image save app', { flags: [], positionals: ['app'], paths: [] }],
    ['image inspect -h', { flags: [{ long: 'help' }], positionals: [] }],
    ['context create n --docker host=unix:///var/run/docker.sock', { flags: [{ long: 'docker', value: 'host=unix:///var/run/docker.sock' }], positionals: ['n'] }],
    ['context rm -f n', { flags: [{ long: 'force' }], positionals: ['n'] }],
    ['tag a -b', { flags: [], positionals: ['a', '-b'] }],
    ['manifest inspect -v x', { flags: [{ long: 'verbose' }], positionals: ['x'] }],
    ['pull --platform=linux/arm64 -q x', { flags: [{ long: 'platform', value: 'linux/arm64' }, { long: 'quiet' }], positionals: ['x'] }],
    ['inspect --type image -s x', { flags: [{ long: 'type', value: 'image' }, { long: 'size' }], positionals: ['x'] }],
    ['version --format {{.Client.Version}}', { flags: [{ long: 'format', value: '{{.Client.Version}}' }], positionals: [] }],
  ])('%s', (argv, want) => {
    expect(check(argv)).toMatchObject(want);
  });
});

describe('docker steps: what the allowlist refuses, in every spelling', () => {
  const HOST = "would reach the engine's host; case containers run without it. docker run takes -d/--detach";
  it.each([
    ['run --pid=host alpine', `docker run --pid ${HOST}`],
    ['run --cap-add=ALL alpine', `docker run --cap-add ${HOST}`],
    ['run -v /:/host alpine', `docker run -v ${HOST}`],
    ['run -v/:/host alpine', `docker run -v ${HOST}`],
    ['run -itv/:/host alpine', `docker run -v ${HOST}`],
    ['run --volume=/:/host alpine', `docker run --volume ${HOST}`],
    ['run --mount type=bind,src=/,dst=/h alpine', `docker run --mount ${HOST}`],
    ['run --rm --pid=host alpine', `docker run --pid ${HOST}`],
    ['run --ipc host alpine', `docker run --ipc ${HOST}`],
    ['run --uts=host alpine', `docker run --uts ${HOST}`],
    ['run --userns=host alpine', `docker run --userns ${HOST}`],
    ['run --cgroupns=host alpine', `docker run --cgroupns ${HOST}`],
    ['run --cap-add=ALL alpine', `docker run --cap-add ${HOST}`],
    ['run --security-opt seccomp=unconfined alpine', `docker run --security-opt ${HOST}`],
    ['run --device=/dev/sda alpine', `docker run --device ${HOST}`],
    ['run --runtime=runc alpine', `docker run --runtime ${HOST}`],
    ['run --gpus all alpine', `docker run --gpus ${HOST}`],
    ['run --volumes-from x alpine', `docker run --volumes-from ${HOST}`],
    ['run --cgroup-parent / alpine', `docker run --cgroup-parent ${HOST}`],
    ['run -p 80:80 alpine', `docker run -p ${HOST}`],
    ['run -dp80:80 alpine', `docker run -p ${HOST}`],
    ['run -P alpine', `docker run -P ${HOST}`],
    // options a denylist did not name
    ['run --use-api-socket alpine', `docker run --use-api-socket ${HOST}`],
    ['run --device-cgroup-rule=a alpine', `docker run --device-cgroup-rule ${HOST}`],
    ['run --env-file=/etc/shadow alpine', `docker run --env-file ${HOST}`],
    ['run --log-driver=syslog alpine', `docker run --log-driver ${HOST}`],
    ['run --kernel-memory=1g alpine', 'docker run --kernel-memory is not a flag the lab allows. docker run takes -d/--detach'],
    ['run -Z alpine', 'docker run -Z is not a flag the lab allows'],
    ['run ---privileged alpine', 'docker run ---privileged is bad flag syntax'],
    ['run --network=host alpine', "docker run --network=host would join the engine's host network; --network takes bridge, none, default. docker run takes"],
    ['run --net host alpine', "docker run --net=host would join the engine's host network"],
    ['run --network container:buildkitd alpine', "docker run --network=container:buildkitd would join another container's network"],
    ['run --network lab alpine', 'docker run --network=lab would join a network other than'],
    ['run --name', 'docker run --name needs a value'],
    ['run -d', 'docker run needs an image'],
    // interspersed commands read flags after positional arguments too
    ['image inspect x --privileged', 'docker image inspect --privileged is not a flag the lab allows. docker image inspect takes -f/--format, --platform'],
    ['image save -o /usr/local/bin/docker x', "docker image save -o=/usr/local/bin/docker is outside the cell's context"],
    ['image save x --output=../../x.tar', "docker image save --output=../../x.tar leaves the cell's context"],
    [
      'context create n --docker host=ssh://me@host',
      "docker context create --docker=host=ssh://me@host host=ssh://me@host: a context of the cell reaches the cell's own engine only",
    ],
    ['context create n --docker=host=tcp://10.0.0.1:2375', 'a context of the cell reaches the cell'],
    ['context create n --docker host=unix:///var/run/docker.sock,ca=/etc/shadow', 'ca=/etc/shadow: a context of the cell'],
    ['context import n f', 'docker context takes create, use, ls, inspect, rm'],
    ['version --kubeconfig /x', 'docker version --kubeconfig is not a flag the lab allows. docker version takes -f/--format'],
    ['tag', undefined],
    ['system prune', 'docker system is not a step the lab runs; it takes image, manifest, context, run, pull, push, tag, inspect, version, info, images, logs'],
    ['exec x sh', 'docker exec is not a step the lab runs'],
    ['logs --follow x', 'docker logs --follow is not a flag the lab allows'],
    ['logs -f x', 'docker logs -f is not a flag the lab allows'],
  ])('%s', (argv, message) => {
    if (message === undefined) return expect(() => check(argv)).not.toThrow();
    expect(() => check(argv)).toThrow(message);
  });
});

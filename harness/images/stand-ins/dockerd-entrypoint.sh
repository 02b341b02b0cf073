#!/bin/sh
# Test stand-in for the official docker:<v>-dind image's dockerd-entrypoint.sh: the lab's tests build it into an
# image under the official name (harness/images/stand-ins.test-helpers.ts). Written for the documented
# behaviour, not copied:
# - no arguments, or a first argument that is a flag: run dockerd on the unix socket (DOCKER_HOST when it is
#   unix://) and on TCP: 2376 with --tlsverify and certificates made under DOCKER_TLS_CERTDIR when it is set
#   (the image sets /certs), else 2375 without TLS;
# - `dockerd ...`: run it through the dind wrapper, as given (no TCP, no TLS);
# - anything else: run it.
set -eu

# Subject names of the server certificate: this container's names and addresses, and DOCKER_TLS_SAN.
san() {
  {
    for n in "$(hostname)" docker localhost; do echo "DNS:$n"; done
    for a in $(hostname -i 2>/dev/null) 127.0.0.1; do echo "IP:$a"; done
    [ -z "${DOCKER_TLS_SAN:-}" ] || echo "$DOCKER_TLS_SAN"
  } | sort -u | paste -sd, -
}

# A private key (P-256: RSA keys take seconds each on a shared CPU; dockerd and the CLI take either).
new_key() { [ -s "$1" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# A CA (kept across starts), a server and a client certificate under $1: ca/, server/, client/.
make_certs() {
  d=$1
  mkdir -p "$d/ca" "$d/server" "$d/client"
  new_key "$d/ca/key.pem"
  openssl req -new -x509 -days 825 -key "$d/ca/key.pem" -subj '/CN=docker:dind CA' -out "$d/ca/cert.pem"
  for who in server client; do
    new_key "$d/$who/key.pem"
    openssl req -new -key "$d/$who/key.pem" -subj "/CN=docker:dind $who" -out "$d/$who/csr.pem"
    if [ "$who" = server ]; then ext="subjectAltName = $(san)"; else ext='extendedKeyUsage = clientAuth'; fi
    printf '[ x509_exts ]\n%s\n' "$ext" >"$d/$who/openssl.cnf"
    openssl x509 -req -in "$d/$who/csr.pem" -CA "$d/ca/cert.pem" -CAkey "$d/ca/key.pem" -CAcreateserial -days 825 \
      -extfile "$d/$who/openssl.cnf" -extensions x509_exts -out "$d/$who/cert.pem" 2>/dev/null
    cp "$d/ca/cert.pem" "$d/$who/ca.pem"
    openssl verify -CAfile "$d/$who/ca.pem" "$d/$who/cert.pem" >/dev/null
  done
  # clients elsewhere (another container sharing certs/client) must read it
  chmod 0644 "$d/client/key.pem"
}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  socket=unix:///var/run/docker.sock
  case "${DOCKER_HOST:-}" in unix://*) socket=$DOCKER_HOST ;; esac
  if [ -n "${DOCKER_TLS_CERTDIR:-}" ] && make_certs "$DOCKER_TLS_CERTDIR"; then
    c=$DOCKER_TLS_CERTDIR/server
    set -- dockerd --host="$socket" --host=tcp://0.0.0.0:2376 --tlsverify \
      --tlscacert "$c/ca.pem" --tlscert "$c/cert.pem" --tlskey "$c/key.pem" "$@"
  else
    set -- dockerd --host="$socket" --host=tcp://0.0.0.0:2375 "$@"
  fi
fi

if [ "$1" = dockerd ]; then
  # a pid file left by an unclean stop would keep dockerd from starting
  # (STAND_IN_*: where the unit test points them, so it never touches the host's /run)
  find ${STAND_IN_RUN_DIRS:-/run /var/run} -iname 'docker*.pid' -delete 2>/dev/null || :
  dind=${STAND_IN_DIND:-/usr/local/bin/dind}
  if [ -x "$dind" ]; then set -- "$dind" "$@"; fi
fi
exec "$@"

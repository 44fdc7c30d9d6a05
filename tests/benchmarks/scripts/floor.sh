#!/bin/sh
# The physical floor of a PostgreSQL + Vault install from the bundle, by hand, with no
# installer at all: what any installer must at least spend on this host. Prints one JSON
# object of step timings. Usage (inside a fresh host, as root): floor.sh BUNDLE.tar
set -eu
bundle=$1
work=$(mktemp -d)
chmod 755 "$work"  # readable by the service users started below
now() { date +%s.%N; }
t0=$(now)
timings=""
mark() { timings="$timings$(printf '"%s": %s, ' "$1" "$(python3 -c "import time; print(round(time.time() - $2, 3))")")"; }

s=$(now)
cd "$work"
apt_tar=$(tar -tf "$bundle" | grep '^apt-runtime-')
vault_tar=$(tar -tf "$bundle" | grep '^vault-runtime-')
tar -xf "$bundle" "$apt_tar" "$vault_tar"
mkdir -p /opt/floor/apt /opt/floor/vault
tar -xzf "$apt_tar" -C /opt/floor/apt
tar -xzf "$vault_tar" -C /opt/floor/vault
mark unpack "$s"

s=$(now)
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/floor.conf
echo "deb [trusted=yes] file:/opt/floor/apt ./" > "$work/sources.list"
mkdir -p "$work/lists/partial"
opts="-oDir::Etc::SourceList=$work/sources.list -oDir::Etc::SourceParts=/nonexistent -oDir::State::Lists=$work/lists"
apt-get update -qq $opts
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $opts postgresql-15 >/dev/null
mark apt "$s"

s=$(now)
useradd --system --no-create-home floorpg
mkdir -p /var/lib/floorpg /run/floorpg && chown floorpg /var/lib/floorpg /run/floorpg
runuser -u floorpg -- /usr/lib/postgresql/15/bin/initdb -D /var/lib/floorpg/data -U postgres \
  --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
runuser -u floorpg -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/floorpg/data -w -s -l /var/lib/floorpg/log \
  -o "-c listen_addresses=127.0.0.1 -c unix_socket_directories=/run/floorpg" start
mark postgresql_up "$s"

s=$(now)
psql="/usr/lib/postgresql/15/bin/psql -X -q -h /run/floorpg -U postgres -d postgres"
$psql -c "CREATE ROLE floorvault LOGIN PASSWORD 'floor-password'"
$psql -c "CREATE DATABASE floorvault OWNER floorvault"
mark role_and_database "$s"

s=$(now)
cat > "$work/vault.hcl" <<HCL
storage "postgresql" {
  connection_url = "postgres://floorvault:floor-password@/floorvault?host=/run/floorpg"
  ha_enabled = "false"
}
listener "tcp" {
  address = "127.0.0.1:8300"
  cluster_address = "127.0.0.1:8301"
  tls_disable = true
}
api_addr = "http://127.0.0.1:8300"
HCL
/opt/floor/vault/bin/bao server -config="$work/vault.hcl" >"$work/bao.log" 2>&1 &
python3 "$(dirname "$0")/vault_init.py" 8300
mark vault_up_init_unseal "$s"

kill %1 2>/dev/null || true
runuser -u floorpg -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/floorpg/data -w -s stop -m fast >/dev/null
printf '{%s"total": %s}\n' "$timings" "$(python3 -c "import time; print(round(time.time() - $t0, 3))")"

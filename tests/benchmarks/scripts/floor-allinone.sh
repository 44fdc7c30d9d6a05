#!/bin/sh
# The physical floor of an all-in-one install from the bundle, by hand, with no installer at
# all: what any installer must at least spend on this host. Every runtime tarball unpacked
# (in parallel), the apt closure from the bundle's repository, then every service started at
# once where nothing orders it (PostgreSQL then Vault; LiteLLM, OpenClaw, the Bridge and
# Caddy beside them) and waited for on its own health probe (catalog.yaml `health`). QMD and
# the agents run nothing at rest: unpacking them (and Hermes's venv links) is their floor.
# The controller's tarball is aiws itself: not unpacked. Prints one JSON object of step
# timings: a step run beside others is timed from its own start to its own end, "services"
# is the wall time of them all. Usage (inside a fresh host, as root):
# floor-allinone.sh BUNDLE.tar
set -eu
bundle=$1
work=$(mktemp -d)
chmod 755 "$work"  # readable by the service users started below
now() { date +%s.%N; }
since() { python3 -c "import time; print(round(time.time() - $1, 3))"; }
t0=$(now)
timings=""
mark() { timings="$timings$(printf '"%s": %s, ' "$1" "$(since "$2")")"; }
# A step run in the background writes its time to a file; `collect` marks it once waited for.
note() { since "$2" > "$work/took.$1"; }
collect() { timings="$timings$(printf '"%s": %s, ' "$1" "$(cat "$work/took.$1")")"; }
# Each service's output goes to its log, never to our stdout: the caller reads that to EOF.
logs=$work/logs
mkdir -p "$logs"

# Polls a URL until it answers 200 (https: any certificate, SNI and Host given as $2).
cat > "$work/wait.py" <<'PY'
import socket, ssl, sys, time, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
name = sys.argv[2] if len(sys.argv) > 2 else url.hostname
deadline = time.time() + 300
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
while True:
    try:
        sock = socket.create_connection((url.hostname, url.port or 443), timeout=5)
        if url.scheme == "https":
            sock = context.wrap_socket(sock, server_hostname=name)
        sock.sendall(f"GET {url.path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        status = sock.makefile("rb").readline().split()
        sock.close()
        if status[1:2] == [b"200"]:
            break
    except (OSError, IndexError):
        pass
    if time.time() > deadline:
        sys.exit(f"{sys.argv[1]}: no 200 within 300 s")
    time.sleep(0.2)
PY
wait_200() { python3 "$work/wait.py" "$@"; }

s=$(now)
# Python venvs are prebuilt for /opt/aiws/<artifact>/<version>/venv (their scripts' #!
# name that path): unpacked there; everything else under /opt/floor/<artifact>.
pids=""
for tarball in $(tar -tf "$bundle" | grep -- '-runtime-' | grep -v '^controller-'); do
  artifact=${tarball%%-runtime-*}
  version=$(echo "$tarball" | sed 's/.*-\([^-]*\)-[^-]*\.tar\.gz$/\1/')
  case $artifact in
    litellm|bridge|hermes) dest=/opt/aiws/$artifact/$version ;;
    *) dest=/opt/floor/$artifact ;;
  esac
  mkdir -p "$dest"
  echo "$dest" > "$work/dest.$artifact"
  (tar -xOf "$bundle" "$tarball" | tar -xzf - -C "$dest") &
  pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done
mark unpack "$s"
litellm=$(cat "$work/dest.litellm")
bridge=$(cat "$work/dest.bridge")
hermes=$(cat "$work/dest.hermes")
node=/opt/floor/node/bin/node
openclaw=/opt/floor/openclaw/node_modules/openclaw

s=$(now)
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/floor.conf
echo "deb [trusted=yes] file:/opt/floor/apt ./" > "$work/sources.list"
mkdir -p "$work/lists/partial"
opts="-oDir::Etc::SourceList=$work/sources.list -oDir::Etc::SourceParts=/nonexistent -oDir::State::Lists=$work/lists"
apt-get update -qq $opts
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $opts \
  postgresql-15 python3-venv >/dev/null
mark apt "$s"

services=$(now)

# Hermes (an agent): its venv's links to the host's python3, nothing to start.
(s=$(now); python3 -m venv --without-pip "$hermes/venv"; note hermes_venv "$s") &
hermes_job=$!

# LiteLLM: one fake model (a fixed answer, no provider), a master key, nothing fetched.
(
  s=$(now)
  python3 -m venv --without-pip "$litellm/venv"
  mkdir -p /var/lib/floorlitellm
  cat > "$work/litellm.yaml" <<'YAML'
model_list:
  - model_name: floor-mock
    litellm_params:
      model: openai/floor-mock
      api_key: floor
      mock_response: "floor answer"
litellm_settings:
  telemetry: false
  drop_params: true
general_settings:
  master_key: sk-floor-master
  disable_spend_logs: true
YAML
  cd /var/lib/floorlitellm
  LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False DISABLE_SCHEMA_UPDATE=True \
    HOME=/var/lib/floorlitellm PYTHONDONTWRITEBYTECODE=1 \
    "$litellm/venv/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port 4000 \
    --num_workers 1 </dev/null >"$logs/litellm.log" 2>&1 &
  echo $! > "$work/pid.litellm"
  wait_200 http://127.0.0.1:4000/health/liveliness
  note litellm_up "$s"
) &
litellm_job=$!

# OpenClaw: its postinstall (clears its "lifecycle pending" marker; nothing is fetched), then
# its gateway as aiws's unit runs it, with the settings that keep it on the host.
(
  s=$(now)
  PATH=$(dirname "$node"):$PATH HOME=$openclaw "$node" \
    "$openclaw/scripts/postinstall-bundled-plugins.mjs" </dev/null >"$logs/openclaw-init.log" 2>&1
  note openclaw_postinstall "$s"
  state=/var/lib/flooropenclaw
  mkdir -p "$state/workspace"
  cat > "$state/openclaw.json" <<JSON
{
  "agents": {
    "defaults": {"workspace": "$state/workspace", "model": {"primary": "litellm/floor-mock"},
                 "models": {"litellm/floor-mock": {}}},
    "entries": {"main": {"name": "main", "workspace": "$state/workspace",
                         "agentDir": "$state/agents/main/agent", "identity": {"name": "main"}}}
  },
  "gateway": {"mode": "local", "port": 18789, "bind": "loopback",
              "auth": {"mode": "token", "token": "floor-gateway-token"}, "tailscale": {"mode": "off"}},
  "models": {
    "mode": "merge",
    "catalogRefresh": {"enabled": false},
    "providers": {"litellm": {
      "baseUrl": "http://127.0.0.1:4000/v1", "api": "openai-completions", "apiKey": "sk-floor-master",
      "models": [{"id": "floor-mock", "name": "floor-mock", "contextWindow": 128000, "maxTokens": 4096,
                  "input": ["text"], "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                  "reasoning": false}]
    }}
  },
  "logging": {"file": "$state/logs/openclaw.log"},
  "update": {"checkOnStart": false, "auto": {"enabled": false}},
  "telemetry": {"enabled": false},
  "discovery": {"mdns": {"mode": "off"}},
  "tools": {"profile": "full"},
  "plugins": {"entries": {
    "anthropic": {"config": {"sessionCatalog": {"enabled": false}}},
    "codex": {"config": {"sessionCatalog": {"enabled": false}}}
  }}
}
JSON
  cd "$state"
  HOME=$state OPENCLAW_CONFIG_PATH=$state/openclaw.json OPENCLAW_STATE_DIR=$state \
    OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_DISABLE_BONJOUR=1 \
    PATH=$(dirname "$node"):/usr/sbin:/usr/bin:/sbin:/bin \
    "$node" "$openclaw/openclaw.mjs" gateway run --port 18789 --bind loopback \
    </dev/null >"$logs/openclaw.log" 2>&1 &
  echo $! > "$work/pid.openclaw"
  wait_200 http://127.0.0.1:18789/healthz
  note openclaw_up "$s"
) &
openclaw_job=$!

# The Bridge: no agent offered (their sockets are systemd's), no token: its "/" answers.
(
  s=$(now)
  python3 -m venv --without-pip "$bridge/venv"
  state=/var/lib/floorbridge
  mkdir -p "$state/workspaces"
  cat > "$work/bridge.json" <<JSON
{"host": "127.0.0.1", "port": 8787, "tokens_file": "$state/tokens.json", "origins": [],
 "workspace_root": "$state/workspaces", "state_dir": "$state", "agents": {}, "gateways": {}}
JSON
  cd "$state"
  PYTHONDONTWRITEBYTECODE=1 "$bridge/venv/bin/aiws-bridge" --config "$work/bridge.json" \
    </dev/null >"$logs/bridge.log" 2>&1 &
  echo $! > "$work/pid.bridge"
  wait_200 http://127.0.0.1:8787/
  note bridge_up "$s"
) &
bridge_job=$!

# Caddy: Caddy's own internal CA for a test name, the Bridge behind it; up when the
# Bridge's "/" answers through it (/healthz, as aiws's probe asks).
(
  s=$(now)
  state=/var/lib/floorcaddy
  mkdir -p "$state"
  cat > "$work/Caddyfile" <<CADDY
{
	admin off
	storage file_system $state
	skip_install_trust
	auto_https disable_redirects
	default_sni bridge.floor.test
	https_port 443
	grace_period 10s
}

bridge.floor.test {
	tls internal
	handle /healthz {
		rewrite * /
		reverse_proxy 127.0.0.1:8787
	}
	handle {
		reverse_proxy 127.0.0.1:8787 {
			flush_interval -1
		}
	}
}
CADDY
  cd "$state"
  HOME=$state XDG_DATA_HOME=$state XDG_CONFIG_HOME=$state \
    /opt/floor/caddy/bin/caddy run --config "$work/Caddyfile" --adapter caddyfile \
    </dev/null >"$logs/caddy.log" 2>&1 &
  echo $! > "$work/pid.caddy"
  wait_200 https://127.0.0.1/healthz bridge.floor.test
  note caddy_up "$s"
) &
caddy_job=$!

# PostgreSQL, a role and a database for Vault, then Vault on it: in the foreground.
s=$(now)
useradd --system --no-create-home floorpg
mkdir -p /var/lib/floorpg /run/floorpg && chown floorpg /var/lib/floorpg /run/floorpg
runuser -u floorpg -- /usr/lib/postgresql/15/bin/initdb -D /var/lib/floorpg/data -U postgres \
  --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
runuser -u floorpg -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/floorpg/data -w -s -l /var/lib/floorpg/log \
  -o "-c listen_addresses=127.0.0.1 -c unix_socket_directories=/run/floorpg" start </dev/null >/dev/null
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
  address = "127.0.0.1:8200"
  cluster_address = "127.0.0.1:8201"
  tls_disable = true
}
api_addr = "http://127.0.0.1:8200"
HCL
/opt/floor/vault/bin/bao server -config="$work/vault.hcl" </dev/null >"$logs/bao.log" 2>&1 &
echo $! > "$work/pid.bao"
python3 "$(dirname "$0")/vault_init.py" 8200
mark vault_up_init_unseal "$s"

failed=""
for job in hermes_venv:$hermes_job litellm_up:$litellm_job openclaw_up:$openclaw_job \
    bridge_up:$bridge_job caddy_up:$caddy_job; do
  if wait "${job#*:}"; then
    [ "${job%%:*}" != openclaw_up ] || collect openclaw_postinstall
    collect "${job%%:*}"
  else
    failed="$failed ${job%%:*}"
  fi
done
mark services "$services"

for pid in "$work"/pid.*; do kill "$(cat "$pid")" 2>/dev/null || true; done
runuser -u floorpg -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/floorpg/data -w -s stop -m fast >/dev/null
if [ -n "$failed" ]; then
  echo "not up:$failed" >&2
  tail -n 30 "$logs"/*.log >&2
  exit 1
fi
printf '{%s"total": %s}\n' "$timings" "$(since "$t0")"

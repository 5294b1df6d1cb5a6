# scripts/lib/demo.sh: the end of scripts/cumulus-up: an image VMs can boot
# (the official one if this machine can download it, else the Debian image
# images/build-debian builds here, imported into the catalogue), an SSH
# key, and a demo VM, with the ssh command that logs into it.  Sourced by
# cumulus-up after the daemons are up; uses $url, $token_file, $STATE and
# $CURL_TLS (curl's --cacert for the control plane, when it serves TLS).

# api METHOD PATH [BODY]: one call to the control plane: the HTTP status
# in $API_STATUS, the body in $API_BODY.  Not in a $(...): it sets them here.
api() {
  local args=(-sS ${CURL_TLS[@]+"${CURL_TLS[@]}"} -o "$STATE/run/api.out" -w '%{http_code}' -X "$1"
    -H "Authorization: Bearer $(cat "$token_file")")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  API_STATUS=$(curl "${args[@]}" "$url$2") || die "cannot reach the control plane at $url"
  API_BODY=$(cat "$STATE/run/api.out")
}

# The image for this host's architecture, by name in $DEMO_IMAGE.
demo_image() {
  local arch deb_arch official image_url dir manifest
  arch=$(uname -m)
  case "$arch" in
    x86_64 | amd64) arch=x86_64 deb_arch=amd64 ;;
    aarch64 | arm64) arch=aarch64 deb_arch=arm64 ;;
    *) die "no image for architecture $arch" ;;
  esac
  official="debian-12-$deb_arch"
  api GET "/v1/images/$official"
  image_url=$(jq -r '.url // empty' <<<"$API_BODY")
  if [ -n "$image_url" ] && curl -fsSIL --max-time 10 -o /dev/null "$image_url" 2>/dev/null; then
    DEMO_IMAGE=$official
    return
  fi
  DEMO_IMAGE="debian-12-local-$deb_arch"
  api GET "/v1/images/$DEMO_IMAGE"
  [ "$API_STATUS" = 200 ] && return
  say "the official image cannot be downloaded here; building Debian 12 ($deb_arch) from the package archive (cached under ~/.cache/cumulus)"
  dir=$(as_root "$CUMULUS_ROOT/images/build-debian" --arch "$deb_arch" --print-dir | tail -n 1)
  manifest="$dir/manifest.json"
  [ -f "$manifest" ] || die "images/build-debian printed no image directory"
  say "importing $manifest as image '$DEMO_IMAGE'"
  api POST /v1/images/import "$(jq -n --arg m "$manifest" --arg n "$DEMO_IMAGE" '{manifest: $m, name: $n}')"
  [ "$API_STATUS" = 201 ] || die "importing the image failed: $API_BODY"
}

# The public key the demo VM gets: the user's own, else one made for it.
demo_key() {
  local pub
  for pub in "$HOME/.ssh/id_ed25519.pub" "$HOME/.ssh/id_ecdsa.pub" "$HOME/.ssh/id_rsa.pub"; do
    if [ -f "$pub" ]; then DEMO_KEY_FILE=${pub%.pub}; return; fi
  done
  DEMO_KEY_FILE="$STATE/demo_ed25519"
  [ -f "$DEMO_KEY_FILE" ] || ssh-keygen -q -t ed25519 -N '' -C cumulus-demo -f "$DEMO_KEY_FILE"
}

# Waits until the demo VM's guest is ready, printing its progress.
wait_ready() {
  local line last="" state
  while :; do
    api GET /v1/vms/demo
    [ "$API_STATUS" = 200 ] || die "the demo VM is gone: $API_BODY"
    line=$(jq -r '"\(.state) \(.guest_state // "")\t\(.guest_message // .state)"' <<<"$API_BODY")
    [ "$line" != "$last" ] && say "  demo: ${line#*$'\t'}"
    last=$line
    state=${line%%$'\t'*}
    case "$state" in
      "running ready") return 0 ;;
      "running failed" | error*) return 1 ;;
      stopped*) say "  demo is stopped; start it with: POST /v1/vms/demo/actions {\"type\": \"start\"}"; return 0 ;;
    esac
    sleep 2
  done
}

# The agent joins on its first heartbeat: wait for a host that is up.
wait_host() {
  local i
  for i in $(seq 1 60); do
    api GET /v1/hosts
    [ "$(jq '[.hosts[] | select(.state == "up")] | length' <<<"$API_BODY")" -gt 0 ] && return
    sleep 0.5
  done
  die "no host joined the control plane within 30 s; see $STATE/logs/agent.log"
}

demo_vm() {
  wait_host
  demo_image
  demo_key
  api GET /v1/ssh-keys/cumulus-demo
  if [ "$API_STATUS" != 200 ]; then
    api POST /v1/ssh-keys "$(jq -n --arg k "$(cat "$DEMO_KEY_FILE.pub")" '{name: "cumulus-demo", public_key: $k}')"
    [ "$API_STATUS" = 201 ] || die "uploading the SSH key failed: $API_BODY"
  fi
  api GET /v1/vms/demo
  if [ "$API_STATUS" != 200 ]; then
    say "creating the VM 'demo' from '$DEMO_IMAGE' (a first boot takes a minute or two without KVM)"
    api POST /v1/vms "$(jq -n --arg i "$DEMO_IMAGE" '{name: "demo", size: "s-1vcpu-1gb", image: $i, ssh_keys: ["cumulus-demo"]}')"
    [ "$API_STATUS" = 202 ] || die "creating the demo VM failed: $API_BODY"
  fi
  wait_ready || die "the demo VM did not become ready; see $STATE/logs/agent.log and GET /v1/vms/demo"
  DEMO_SSH=$(jq -r '.ssh | "ssh -i '"$DEMO_KEY_FILE"' -p \(.port) \(.user)@\(.host)"' <<<"$API_BODY")
}

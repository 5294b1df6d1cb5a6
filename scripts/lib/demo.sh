# scripts/lib/demo.sh: the end of scripts/cumulus-up: an image VMs can boot
# (the official one if this machine can download it, else the Debian image
# images/build-debian builds here, imported into the catalogue), an SSH
# key, and a demo VM, with the ssh command that logs into it.  Sourced by
# cumulus-up after the daemons are up; uses $url, $token_file and $STATE.

# api METHOD PATH [BODY]: one call to the control plane; the body on
# stdout, the HTTP status in $API_STATUS.
api() {
  local out args=(-sS -o "$STATE/run/api.out" -w '%{http_code}' -X "$1"
    -H "Authorization: Bearer $(cat "$token_file")")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  API_STATUS=$(curl "${args[@]}" "$url$2") || die "cannot reach the control plane at $url"
  cat "$STATE/run/api.out"
}

# The image for this host's architecture, as name on stdout.
demo_image() {
  local arch deb_arch official image_url dir manifest name
  arch=$(uname -m)
  case "$arch" in
    x86_64 | amd64) arch=x86_64 deb_arch=amd64 ;;
    aarch64 | arm64) arch=aarch64 deb_arch=arm64 ;;
    *) die "no image for architecture $arch" ;;
  esac
  official="debian-12-$deb_arch"
  image_url=$(api GET "/v1/images/$official" | jq -r '.url // empty')
  if [ -n "$image_url" ] && curl -fsSIL --max-time 10 -o /dev/null "$image_url" 2>/dev/null; then
    echo "$official"
    return
  fi
  name="debian-12-local-$deb_arch"
  if [ "$(api GET "/v1/images/$name" >/dev/null; echo "$API_STATUS")" = 200 ]; then
    echo "$name"
    return
  fi
  say "the official image cannot be downloaded here; building Debian 12 ($deb_arch) from the package archive (cached under ~/.cache/cumulus)"
  dir=$(as_root "$CUMULUS_ROOT/images/build-debian" --arch "$deb_arch" --print-dir | tail -n 1)
  manifest="$dir/manifest.json"
  [ -f "$manifest" ] || die "images/build-debian printed no image directory"
  say "importing $manifest as image '$name'"
  api POST /v1/images/import "$(jq -n --arg m "$manifest" --arg n "$name" '{manifest: $m, name: $n}')" >/dev/null
  [ "$API_STATUS" = 201 ] || die "importing the image failed: $(cat "$STATE/run/api.out")"
  echo "$name"
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

# Waits for operation $1, printing its progress as it changes.
wait_operation() {
  local id=$1 last="" line status
  while :; do
    line=$(api GET "/v1/operations/$id/wait?timeout=15" | jq -r '"\(.status)\t\(.progress)%  \(.message // "")"')
    status=${line%%$'\t'*}
    [ "$line" != "$last" ] && say "  ${line#*$'\t'}"
    last=$line
    case "$status" in
      succeeded) return 0 ;;
      failed) api GET "/v1/operations/$id" | jq -r '.error.message // .message' >&2; return 1 ;;
    esac
  done
}

demo_vm() {
  local image vm op
  image=$(demo_image)
  demo_key
  if [ "$(api GET /v1/ssh-keys/cumulus-demo >/dev/null; echo "$API_STATUS")" != 200 ]; then
    api POST /v1/ssh-keys "$(jq -n --arg k "$(cat "$DEMO_KEY_FILE.pub")" '{name: "cumulus-demo", public_key: $k}')" >/dev/null
    [ "$API_STATUS" = 201 ] || die "uploading the SSH key failed: $(cat "$STATE/run/api.out")"
  fi
  vm=$(api GET /v1/vms/demo)
  if [ "$API_STATUS" != 200 ]; then
    say "creating the VM 'demo' from '$image' (a first boot takes a minute or two without KVM)"
    vm=$(api POST /v1/vms "$(jq -n --arg i "$image" '{name: "demo", size: "s-1vcpu-1gb", image: $i, ssh_keys: ["cumulus-demo"]}')")
    [ "$API_STATUS" = 202 ] || die "creating the demo VM failed: $vm"
    op=$(jq -r .operation.id <<<"$vm")
    wait_operation "$op" || die "the demo VM did not become ready; see $STATE/logs/agent.log"
    vm=$(api GET /v1/vms/demo)
  fi
  DEMO_SSH=$(jq -r '.ssh | "ssh -i '"$DEMO_KEY_FILE"' -p \(.port) \(.user)@\(.host)"' <<<"$vm")
}

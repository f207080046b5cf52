#!/bin/sh
# Stand-in k3d for tests: records each call, keeps state as files beside itself.
state=$(dirname "$0")/state
mkdir -p "$state"
printf '%s\n' "$*" >> "$state/calls.log"
# Real k3d logs info to stdout unless LOG_LEVEL says otherwise; the caller must keep it quiet.
[ "$LOG_LEVEL" = warn ] || echo "INFO[0000] LOG_LEVEL is not warn: stdout is not clean"
key="$1 $2"
if [ -e "$state/fail-$1-$2" ]; then
  echo "INFO[0000] Prep: Network" >&2
  printf '\033[31mFATA\033[0m[0001] Failed to create cluster %s: simulated failure\n' "'$3'" >&2
  exit 1
fi
case "$key" in
"cluster list")
  printf '['
  sep=''
  for f in "$state"/cluster-*; do
    [ -e "$f" ] || continue
    name=${f##*/cluster-}
    status=$(sed -n 1p "$f"); image=$(sed -n 2p "$f"); agents=$(sed -n 3p "$f")
    if [ "$status" = running ]; then run=true; sr=1; ar=$agents; else run=false; sr=0; ar=0; fi
    printf '%s{"name":"%s","network":{"name":"k3d-%s"},"clusterToken":"","nodes":[{"name":"k3d-%s-server-0","role":"server","image":"%s","State":{"Running":%s,"Status":"%s","Started":""}},{"name":"k3d-%s-serverlb","role":"loadbalancer","image":"ghcr.io/k3d-io/k3d-proxy:5.9.0","State":{"Running":%s,"Status":"%s","Started":""}}],"InitNode":null,"serversRunning":%s,"serversCount":1,"agentsRunning":%s,"agentsCount":%s,"hasLoadbalancer":true}' \
      "$sep" "$name" "$name" "$name" "$image" "$run" "$status" "$name" "$run" "$status" "$sr" "$ar" "$agents"
    sep=','
  done
  printf ']\n' ;;
"cluster create")
  name=$3; config=$5
  image=$(sed -n 's/^image: *//p' "$config"); agents=$(sed -n 's/^agents: *//p' "$config")
  printf 'running\n%s\n%s\n' "$image" "$agents" > "$state/cluster-$name" ;;
"cluster start")
  sed -i '1s/.*/running/' "$state/cluster-$3" ;;
"cluster delete")
  rm -f "$state/cluster-$3" ;;
"kubeconfig get")
  printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: k3d-%s\n  cluster: {server: "https://127.0.0.1:6550"}\n' "$3" ;;
"kubeconfig merge")
  : ;;
"registry list")
  printf '['
  sep=''
  for f in "$state"/registry-*; do
    [ -e "$f" ] || continue
    name=${f##*/registry-}; status=$(sed -n 1p "$f"); remote=$(sed -n 2p "$f")
    if [ "$status" = running ]; then run=true; else run=false; fi
    printf '%s{"name":"%s","role":"registry","image":"docker.io/library/registry:2","env":["REGISTRY_PROXY_REMOTEURL=%s","PATH=/bin"],"State":{"Running":%s,"Status":"%s","Started":""}}' "$sep" "$name" "$remote" "$run" "$status"
    sep=','
  done
  printf ']\n' ;;
"registry create")
  # registry create NAME --port P --proxy-remote-url URL ...
  printf 'running\n%s\n' "$7" > "$state/registry-k3d-$3" ;;
"registry delete")
  rm -f "$state/registry-$3" ;;
"node start")
  sed -i '1s/.*/running/' "$state/registry-$3" ;;
"version ")
  printf 'k3d version v5.9.0\nk3s version v1.34.8-k3s1 (default)\n' ;;
*)
  echo "stand-in k3d: unexpected call: $*" >&2; exit 2 ;;
esac
# A hang after the work, like a k3d that created nodes and then waits forever; `exec` so that
# killing the stand-in kills the sleep too.
if [ -e "$state/hang-$1-$2" ]; then exec sleep 30; fi

# Sourced by scripts that start wrangler or Miniflare: keeps them off the network (no metrics, no
# update check, no cf.json download) and keeps their config/logs inside the project.
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export WRANGLER_HIDE_BANNER=true
export CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME="${XDG_CONFIG_HOME:-$(pwd)/.wrangler-home}"

#!/usr/bin/env bash
# Install LiteLLM's proxy from PyPI into its own virtualenv, bench/.venv-litellm.
# Idempotent: a second run only checks that the proxy imports.
# Pin a version with LITELLM_SPEC, e.g. LITELLM_SPEC='litellm[proxy]==1.55.0'.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-litellm"
spec="${LITELLM_SPEC:-litellm[proxy]}"
py="${PYTHON:-python3}"

if [ -x "$venv/bin/litellm" ] && "$venv/bin/python" -c 'import litellm.proxy.proxy_server' >/dev/null 2>&1; then
    echo "litellm already installed in $venv ($("$venv/bin/pip" show litellm 2>/dev/null | sed -n 's/^Version: //p'))"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "$spec"
# uvicorn picks up uvloop and httptools when they are there (as with uvicorn[standard]); they only
# make LiteLLM faster, so install them for a fair comparison and ignore a failure.
"$venv/bin/pip" install -q uvloop httptools || true
"$venv/bin/python" -c 'import litellm.proxy.proxy_server' >/dev/null
echo "litellm installed in $venv ($("$venv/bin/pip" show litellm | sed -n 's/^Version: //p'))"

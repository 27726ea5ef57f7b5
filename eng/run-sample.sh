#!/usr/bin/env bash
# Runs the HaClient ASP.NET Core sample against the local lab: installs and starts the plain PostgreSQL lab (primary
# 15432, replicas 15433/15434) and Redis with Sentinels (16379-16381, 16479-16481), then serves the sample on
# http://127.0.0.1:5080 (127.0.0.1 only). Open http://127.0.0.1:5080/topology.html for the live topology.
# Usage: bash eng/run-sample.sh [extra dotnet run args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
bash eng/lab.sh install
bash eng/lab.sh pg up
bash eng/lab.sh redis up
echo "== sample: http://127.0.0.1:5080 (topology: /topology.html, health: /health, metrics: /metrics)" >&2
exec dotnet run -c Release --project samples/HaClient.Sample --urls http://127.0.0.1:5080 "$@"

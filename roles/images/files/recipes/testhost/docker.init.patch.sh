#!/bin/sh
# Adapt Debian's /etc/init.d/docker to a test host:
# - the hard limit of open files here is far below the script's
#   `ulimit -n 1048576` and cannot be raised without CAP_SYS_RESOURCE, so the
#   script's ulimit calls would abort the start; dockerd keeps the inherited limits;
# - add `reload` (SIGHUP through the pid file, what docker.service's
#   ExecReload does on systemd hosts), so a role reloads dockerd as it would there.
set -eu
script=$1
sed -i -e 's/^\([[:space:]]*\)ulimit /\1: ulimit /' "$script"
# The script's own variable goes into the script unexpanded:
# shellcheck disable=SC2016
sed -i -e 's/^\([[:space:]]*\)force-reload)$/\1reload)\
\1\tfail_unless_root\
\1\tstart-stop-daemon --stop --signal HUP --quiet --pidfile "$DOCKER_SSD_PIDFILE"\
\1\t;;\
\
\1force-reload)/' "$script"
sed -i -e 's/{start|stop|restart|status}/{start|stop|restart|reload|status}/' "$script"
grep -q '^[[:space:]]*reload)$' "$script"
if grep -q '^[[:space:]]*ulimit ' "$script"; then
  echo "$script still calls ulimit" >&2
  exit 1
fi

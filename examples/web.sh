# The HTTP service of examples/docker-stack.yml (mounted as the config /web.sh, run by busybox sh;
# the test image has only sh, echo, cat, httpd, wget and a few more): busybox httpd on 127.0.0.1,
# on the first free port from PORT on (the containers share the host's network), recorded in
# /tmp/port for the health check.
port=${PORT:-18080}
last=$((port + ${PORT_SPAN:-16} - 1))
while [ "$port" -le "$last" ]; do
  echo "hello from web on port $port" >/tmp/index.html
  echo "$port" >/tmp/port
  echo "web: trying http://127.0.0.1:$port"
  # -f: in the foreground, as this shell's child; it exits at once when the port is taken. The
  # shell is the container's first process, which ignores SIGTERM unless it traps it.
  httpd -f -p "127.0.0.1:$port" -h /tmp &
  pid=$!
  trap 'kill "$pid"; exit 0' TERM INT
  wait "$pid"
  port=$((port + 1))
done
echo "web: no free port up to $last" >&2
exit 1

#!/bin/sh
# make run: a self-signed certificate, the demo backend on 127.0.0.1:8000 and
# stud on 127.0.0.1:8443 in the foreground (Ctrl-C stops both).
set -e
cd "$(dirname "$0")/.."
port=${STUD_DEMO_PORT:-8443}
backend_port=${STUD_DEMO_BACKEND_PORT:-8000}
mkdir -p demo
if [ ! -s demo/cert.pem ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 365 \
	    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    -keyout demo/key.pem -out demo/crt.pem 2>/dev/null
	cat demo/crt.pem demo/key.pem > demo/cert.pem
	rm -f demo/crt.pem demo/key.pem
	echo "made a self-signed demo certificate: demo/cert.pem"
fi
python3 tests/demo_backend.py 127.0.0.1 "$backend_port" &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT INT TERM
echo
echo "stud is starting on https://127.0.0.1:$port/ in front of the demo backend on 127.0.0.1:$backend_port."
echo "Try, in another terminal:"
echo
echo "    curl -k https://127.0.0.1:$port/"
echo
echo "Press Ctrl-C to stop."
echo
./stud -f "127.0.0.1,$port" -b "127.0.0.1,$backend_port" demo/cert.pem

#!/usr/bin/python3
"""A small HTTP backend for `make run`: answers every GET with a greeting."""
import http.server
import sys


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("Hello from the stud demo backend: your request to %s came "
                "through stud over TLS.\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("demo backend: " + (fmt % args) + "\n")


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    http.server.ThreadingHTTPServer((host, port), Hello).serve_forever()

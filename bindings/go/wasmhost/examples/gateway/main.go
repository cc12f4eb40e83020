// An example Go HTTP gateway on the wasmhost package: every request to
// /ROUTE runs one instance of ROUTE's guest, the body as stdin and the
// guest's stdout as the response, with job/route labels, the request's
// traceparent, and the request's deadline as the guest's timeout. The
// records go to stderr as JSON lines (the host's default sink).
//
//	gateway -listen 127.0.0.1:8080 -route /upper=guests/build/c/upper.wasm
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"wasmhost.test/bindings/go/wasmhost"
)

type routes map[string]string

func (r routes) String() string { return fmt.Sprint(map[string]string(r)) }
func (r routes) Set(spec string) error {
	path, module, ok := strings.Cut(spec, "=")
	if !ok {
		return fmt.Errorf("%q: expected PATH=MODULE", spec)
	}
	r[path] = module
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	timeout := flag.Duration("timeout", 2*time.Second, "each guest's timeout")
	paths := routes{}
	flag.Var(paths, "route", "PATH=MODULE (repeatable)")
	flag.Parse()

	host, err := wasmhost.NewHost(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	mux := http.NewServeMux()
	for path, file := range paths {
		module, err := host.LoadFile(file)
		if err != nil {
			log.Fatal(err)
		}
		mux.Handle(path, handler(module, path, *timeout))
	}
	log.Printf("listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}

func handler(module *wasmhost.Module, route string, timeout time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		res, err := module.Run(ctx, wasmhost.RunOptions{
			Stdin:       body,
			Labels:      map[string]string{"job": "gateway", "route": route},
			Traceparent: r.Header.Get("traceparent"),
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("x-wasm-instance-id", res.InstanceID)
		if res.ExitCode != 0 {
			http.Error(w, fmt.Sprintf("guest exited with %d (%s)", res.ExitCode, res.Outcome), http.StatusBadGateway)
			return
		}
		w.Write(res.Stdout)
	}
}

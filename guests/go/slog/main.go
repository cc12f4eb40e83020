// slog: logs with Go's log/slog (text and JSON handlers) and log, and can
// panic, for wasmhost's lifting. The first argument picks: text, json, log,
// panic.
package main

import (
	"log"
	"log/slog"
	"os"
)

func main() {
	mode := "text"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	switch mode {
	case "text":
		logger := slog.New(slog.NewTextHandler(os.Stderr, opts))
		logger.Warn("slow query", "table", "users", "ms", 120, slog.Group("req", "id", 7, "path", "/upper"))
		logger.Error("disk full", "dev", "sda", "free", 0)
		logger.Debug("detail with spaces", "note", "a b c")
	case "json":
		logger := slog.New(slog.NewJSONHandler(os.Stderr, opts))
		logger.Warn("slow query", "table", "users", "ms", 120, slog.Group("req", "id", 7, "path", "/upper"))
		logger.Log(nil, slog.LevelInfo+2, "custom level")
		logger.Error("disk full", "wasm_instance_id", "spoofed", "seq", 1)
	case "log":
		log.Print("plain message")
		log.SetFlags(log.LstdFlags | log.Lmsgprefix)
		log.SetPrefix("ERROR: ")
		log.Print("prefixed message")
		// slog's default handler writes through log, with log's flags and prefix.
		log.SetPrefix("")
		log.SetFlags(log.LstdFlags)
		slog.Info("through the default logger", "user", "alice")
	case "panic":
		var m map[string]int
		go func() { select {} }()
		m["boom"] = 1
	}
}

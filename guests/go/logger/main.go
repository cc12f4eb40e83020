// logger: writes N numbered lines to stderr (N from the first argument, else
// LOGGER_LINES, else 10).
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	text := os.Getenv("LOGGER_LINES")
	if len(os.Args) > 1 {
		text = os.Args[1]
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		n = 10
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(os.Stderr, "line %08d: the quick brown fox jumps over the lazy dog\n", i)
	}
}

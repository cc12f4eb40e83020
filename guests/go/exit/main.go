// exit: exits with the code given as the first argument.
package main

import (
	"os"
	"strconv"
)

func main() {
	code := 0
	if len(os.Args) > 1 {
		code, _ = strconv.Atoi(os.Args[1])
	}
	os.Exit(code)
}

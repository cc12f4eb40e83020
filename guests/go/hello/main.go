// hello: one line to stdout, one to stderr, exit 0.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello from go")
	fmt.Fprintln(os.Stderr, "hello from go on stderr")
}

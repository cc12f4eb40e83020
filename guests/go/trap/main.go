// trap: panics. Go's runtime turns a panic into a message on stderr and exit
// code 2, not a wasm trap: the host sees an ordinary exit.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "about to panic")
	var items []int
	fmt.Println(items[len(os.Args)+2])
}

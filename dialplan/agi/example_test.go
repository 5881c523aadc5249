package agi_test

import (
	"fmt"

	"github.com/licbridge/licbridge/dialplan/agi"
)

func ExampleQuote() {
	fmt.Println(agi.Quote(`50% used: a=b; "c" \ d`))
	line, _ := agi.SetVariableLine("LICBRIDGE_REASON", "OVER_LIMIT")
	fmt.Print(line)
	// Output:
	// "50% used: a=b; \"c\" \\ d"
	// SET VARIABLE LICBRIDGE_REASON "OVER_LIMIT"
}

func ExampleParseReplyLine() {
	rep, _ := agi.ParseReplyLine("200 result=1 (50% off: a=b (x))")
	fmt.Printf("code %d result %s data %q\n", rep.Code, rep.Result, rep.Data)
	// Output: code 200 result 1 data "50% off: a=b (x)"
}

package capture

// The decoder's pieces the package's own external tests drive directly; no
// other package uses them, so they are not part of the API.
type (
	Decoder  = decoder
	LinkType = linkType
)

var (
	NewDecoder    = newDecoder
	LooksLikeSIP  = looksLikeSIP
	ErrNotRegular = errNotRegular
)

const (
	LinkNull     = linkNull
	LinkEthernet = linkEthernet
	LinkRawAlt12 = linkRawAlt12
	LinkRawAlt14 = linkRawAlt14
	LinkRaw      = linkRaw
	LinkLoop     = linkLoop
	LinkLinuxSLL = linkLinuxSLL
	LinkIPv4     = linkIPv4
	LinkIPv6     = linkIPv6
	LinkSLL2     = linkSLL2
)

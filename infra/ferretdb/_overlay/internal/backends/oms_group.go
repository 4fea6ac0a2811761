// OMS patch (infra/omsinfra.py copies this file into FerretDB v1.24.2 before building ferretdb-local).

package backends

// OMSGroup is one group of a grouped count (QueryParams.OMSGroupFields): the values of the grouped fields, in
// their order (nil for a missing field), and how many documents (with OMSUnwind: array elements) hold them.
type OMSGroup struct {
	Values []any
	Count  int64
}

package generator

import "strings"

// Price is what a model costs, in USD per million tokens.
type Price struct {
	In, Out float64
}

// prices are list prices of common OpenAI models (USD per 1M tokens, standard tier) as of late 2025;
// override with --price-in and --price-out.
var prices = map[string]Price{
	"gpt-4o-mini":   {0.15, 0.60},
	"gpt-4o":        {2.50, 10.00},
	"gpt-4.1":       {2.00, 8.00},
	"gpt-4.1-mini":  {0.40, 1.60},
	"gpt-4.1-nano":  {0.10, 0.40},
	"gpt-5":         {1.25, 10.00},
	"gpt-5-mini":    {0.25, 2.00},
	"gpt-5-nano":    {0.05, 0.40},
	"o3-mini":       {1.10, 4.40},
	"o4-mini":       {1.10, 4.40},
	"gpt-3.5-turbo": {0.50, 1.50},
}

// PriceOf returns the built-in price of a model (dated snapshots such as gpt-4o-mini-2024-07-18 match
// their family) and whether one is known.
func PriceOf(model string) (Price, bool) {
	if p, ok := prices[model]; ok {
		return p, true
	}
	best := ""
	for name := range prices {
		if strings.HasPrefix(model, name+"-") && len(name) > len(best) {
			best = name
		}
	}
	if best == "" {
		return Price{}, false
	}
	return prices[best], true
}

// Cost returns the USD cost of a usage at this price.
func (p Price) Cost(promptTokens, completionTokens int) float64 {
	return (float64(promptTokens)*p.In + float64(completionTokens)*p.Out) / 1e6
}

-- Bitcoin daily prices, 2024-04-24 to 2025-04-23.
return {
  name = "bitcoin",
  title = "Bitcoin daily historical data",
  file = "bitcoin.csv",
  sha256 = "6dd58c3530925dcee493278233cb81979fd6b8da436f913b9947e2d57f9b571a",
  bytes = 45431,
  source = "CoinMarketCap BTC historical-data export (7 columns); "
    .. "github.com/xalentis/TimeseriesToolkit, data/bitcoin.csv (commit d21bf13)",
  url = "https://raw.githubusercontent.com/xalentis/TimeseriesToolkit/"
    .. "d21bf132bd2dbcc3f9b2c63a909a7d77dc74e35c/data/bitcoin.csv",
  licence = "CC0 1.0 (the TimeseriesToolkit repository); the data are CoinMarketCap's",
  csv = { delimiter = "," },
  time = "timeOpen",
  target = "close",
  rows = 365,
  columns = { "timeOpen", "open", "high", "low", "close", "volume", "marketCap" },
}

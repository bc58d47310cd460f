-- S&P 500, single ticker (AAPL): daily prices, 2013-02-08 to 2018-02-07.
return {
  name = "sp500",
  title = "S&P 500 stock data, AAPL (daily)",
  file = "AAPL_data.csv",
  sha256 = "2d8446ec898312bb0e943772cbb83b017b4d1b3e5f1ceb09e717ef2d71f75efa",
  bytes = 67207,
  source = "Kaggle 'S&P 500 stock data' (Cam Nugent, camnugent/sandp500), individual_stocks_5yr/AAPL_data.csv; "
    .. "copy in github.com/xalentis/TimeseriesToolkit, data/ (commit d21bf13)",
  url = "https://raw.githubusercontent.com/xalentis/TimeseriesToolkit/"
    .. "d21bf132bd2dbcc3f9b2c63a909a7d77dc74e35c/data/AAPL_data.csv",
  licence = "not verified: Kaggle terms of use; prices from IEX, whose terms may apply "
    .. "(see ../shared/datasets/PROVENANCE.md)",
  csv = { delimiter = "," },
  time = "date",
  target = "close",
  rows = 1259,
  columns = { "date", "open", "high", "low", "close", "volume", "Name" },
}

-- ETTh1 (electricity transformer temperature, hourly), 2016-07-01 00:00 to
-- 2018-06-26 19:00. Not in the paper; an extra benchmark. CC BY-ND 4.0: the
-- file is used as published, never re-saved.
return {
  name = "etth1",
  title = "ETDataset ETTh1 (hourly)",
  file = "ETTh1.csv",
  sha256 = "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
  bytes = 2589657,
  source = "github.com/zhouhaoyi/ETDataset, ETT-small/ETTh1.csv (H. Zhou et al., 'Informer', AAAI 2021)",
  url = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/"
    .. "1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/ETTh1.csv",
  licence = "CC BY-ND 4.0",
  csv = { delimiter = "," },
  time = "date",
  target = "OT",
  rows = 17420,
  columns = { "date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT" },
}

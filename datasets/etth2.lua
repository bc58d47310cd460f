-- ETTh2 (electricity transformer temperature, hourly), 2016-07-01 00:00 to
-- 2018-06-26 19:00. Not in the paper; an extra benchmark. CC BY-ND 4.0: the
-- file is used as published, never re-saved.
return {
  name = "etth2",
  title = "ETDataset ETTh2 (hourly)",
  file = "ETTh2.csv",
  sha256 = "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
  bytes = 2417960,
  source = "github.com/zhouhaoyi/ETDataset, ETT-small/ETTh2.csv (H. Zhou et al., 'Informer', AAAI 2021)",
  url = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/"
    .. "1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/ETTh2.csv",
  licence = "CC BY-ND 4.0",
  csv = { delimiter = "," },
  time = "date",
  target = "OT",
  rows = 17420,
  columns = { "date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT" },
}

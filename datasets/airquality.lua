-- UCI Air Quality: hourly sensor readings, 10/03/2004 18:00 to 04/04/2005
-- 14:00. The file is ';'-separated with decimal commas, -200 (also written
-- -200,0) marks a missing value, every line ends with two empty fields and
-- 114 empty rows follow the data. Date (dd/mm/yyyy) and Time (HH.MM.SS) are
-- joined into one datetime column.
return {
  name = "airquality",
  title = "Air Quality (UCI, De Vito et al. 2008)",
  file = "AirQualityUCI.csv",
  sha256 = "13277ae5d8581e80b7be09d47c7d3d06fe9b8e957078f2cf6e859f955e62f996",
  bytes = 785065,
  source = "UCI Machine Learning Repository, 'Air Quality' (S. De Vito et al., 2008); "
    .. "copy in github.com/xalentis/TimeseriesToolkit, data/ (commit d21bf13)",
  url = "https://raw.githubusercontent.com/xalentis/TimeseriesToolkit/"
    .. "d21bf132bd2dbcc3f9b2c63a909a7d77dc74e35c/data/AirQualityUCI.csv",
  licence = "CC BY 4.0",
  csv = { delimiter = ";", decimal = ",", na = { -200 }, dayfirst = true },
  combine = { date = "Date", time = "Time", into = "datetime" },
  time = "datetime",
  target = "CO(GT)",
  rows = 9357,
  columns = { "datetime", "CO(GT)", "PT08.S1(CO)", "NMHC(GT)", "C6H6(GT)", "PT08.S2(NMHC)", "NOx(GT)",
    "PT08.S3(NOx)", "NO2(GT)", "PT08.S4(NO2)", "PT08.S5(O3)", "T", "RH", "AH" },
}

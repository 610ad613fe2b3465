require ["vacation", "fileinto"];
if address :contains "from" "example" {
  vacation :days 2 "Conditional.";
  fileinto "Existing";
}

"""The jobs: training any task (`runner.train`), generating and editing with a trained model
(`generate`), and the distribution set-up they share (`distribution`)."""

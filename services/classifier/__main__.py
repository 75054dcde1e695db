from services.classifier.entrypoint import main

main()
